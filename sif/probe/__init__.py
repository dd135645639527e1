"""The grounding probe (issue 14): can this model learn to say where an object is? Tasks and metrics."""

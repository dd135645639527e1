"""Static check: nothing in sif/ evaluates text or unpickles a file (model output, datasets, checkpoints
and caches are untrusted).

Walks the syntax tree of every module under sif/ and refuses:
  * calls of the builtins eval / exec / compile, and ast.literal_eval (model output is parsed with json and
    bounded regexes only);
  * any import of pickle, cPickle, _pickle, dill, marshal, shelve, joblib; pandas.read_pickle / read_pickle;
  * torch.load without `weights_only=True`, np.load / numpy.load without `allow_pickle=False` (both must be
    literal keywords), yaml.load without an explicit safe Loader, yaml.unsafe_load / full_load;
  * subprocess calls with shell=True and os.system (no command line is built from data).
A self-test feeds the checker one snippet of each kind, so a checker that silently stopped matching fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.faults._reliability import record

ROOT = Path(__file__).resolve().parents[2]
BANNED_MODULES = {"pickle", "cPickle", "_pickle", "dill", "marshal", "shelve", "joblib"}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    return ""


def _kw_is(call: ast.Call, name: str, value: object) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is value for k in call.keywords)


def findings(source: str, filename: str = "<snippet>") -> list[str]:
    out: list[str] = []
    tree = ast.parse(source, filename)
    aliases: dict[str, str] = {}  # local name -> module it stands for (import numpy as np)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name
                if a.name.split(".")[0] in BANNED_MODULES:
                    out.append(f"{filename}:{node.lineno}: import {a.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            for a in node.names:
                if top in BANNED_MODULES or (top, a.name) in {("torch", "load"), ("numpy", "load"), ("ast", "literal_eval"),
                                                              ("pandas", "read_pickle"), ("yaml", "unsafe_load")}:
                    out.append(f"{filename}:{node.lineno}: from {node.module} import {a.name}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        head, _, rest = name.partition(".")
        full = f"{aliases.get(head, head)}.{rest}" if rest else name
        where = f"{filename}:{node.lineno}: {name}()"
        if isinstance(node.func, ast.Name) and name in ("eval", "exec", "compile"):
            out.append(where)
        elif full in ("ast.literal_eval", "pandas.read_pickle", "yaml.unsafe_load", "yaml.full_load", "os.system"):
            out.append(where)
        elif full.split(".")[0] in BANNED_MODULES:
            out.append(where)
        elif full == "torch.load" and not _kw_is(node, "weights_only", True):
            out.append(where + " without weights_only=True")
        elif full in ("numpy.load", "numpy.lib.npyio.load") and not _kw_is(node, "allow_pickle", False):
            out.append(where + " without allow_pickle=False")
        elif full == "yaml.load" and not any(k.arg == "Loader" and _dotted(k.value).split(".")[-1] in SAFE_YAML_LOADERS
                                             for k in node.keywords):
            out.append(where + " without a safe Loader")
        elif full.startswith("subprocess.") and _kw_is(node, "shell", True):
            out.append(where + " with shell=True")
        elif name.endswith("read_pickle"):
            out.append(where)
    return out


def test_checker_catches_each_kind():
    snippets = [
        "eval(text)", "exec(code)", "compile(src, 'x', 'exec')", "import ast\nast.literal_eval(s)",
        "import pickle\npickle.loads(b)", "from pickle import load", "import dill", "import marshal",
        "import torch\ntorch.load(p)", "import torch\ntorch.load(p, weights_only=False)",
        "import numpy as np\nnp.load(p)", "import numpy as np\nnp.load(p, allow_pickle=True)",
        "import yaml\nyaml.load(s)", "import yaml\nyaml.unsafe_load(s)", "import pandas as pd\npd.read_pickle(p)",
        "import subprocess\nsubprocess.run(cmd, shell=True)", "import os\nos.system(cmd)",
        "from torch import load", "import joblib\njoblib.load(p)",
    ]
    for snippet in snippets:
        assert findings(snippet), snippet
    fine = ["import torch\ntorch.load(p, weights_only=True, map_location='cpu')",
            "import numpy as np\nnp.load(p, allow_pickle=False)", "import yaml\nyaml.load(s, Loader=yaml.SafeLoader)",
            "import yaml\nyaml.safe_load(s)", "model.eval()", "import re\nre.compile('x')", "json.loads(s)"]
    for snippet in fine:
        assert not findings(snippet), snippet


def test_sif_never_evaluates_or_unpickles():
    files = sorted((ROOT / "sif").rglob("*.py"))
    assert len(files) > 50
    found = [f for path in files for f in findings(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    record("security", check="static scan of sif/ for eval/exec/literal_eval/pickle/unsafe torch.load/np.load",
           hits=len(found), files=len(files))
    assert not found, "\n".join(found)

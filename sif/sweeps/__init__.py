"""Sweeps: the multirun summary callback (`summary`), and the callback that turns each submitit task's
scheduler variables into torch.distributed's (`slurm_env`). Nothing here imports torch or matplotlib at
import time: both callbacks are instantiated by every `launch.py` call.

Importing this package registers SIF's configs and the `sif_id` resolver. A submitit task never runs
launch.py; it unpickles the callbacks (which travel inside the launcher), and so imports this package,
before Hydra composes its job and names the job's folder with `sif_id`.
"""

from sif.config import register_configs

register_configs()

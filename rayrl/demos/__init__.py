"""Expert demonstrations as Minari datasets: recorded by ``rayrl record-demos``, read by :func:`load_demos` for R2D3.

R2D3 (Paine et al. 2019, arXiv 1909.01387) draws a share of every learner batch from a replay of expert
demonstrations. They are stored in Farama's Minari format (``minari``), so that they can be inspected, shared and
read with its tools: a dataset is a directory holding ``data/metadata.json`` (the spaces as JSON, the counts) and,
per episode ``i``, ``data/i/`` (the steps as one Arrow IPC file, and its ``metadata.json``: its length and seed).

Storage backend: Minari's ``arrow`` (pyarrow, which Ray already brings), not ``hdf5``. Both read without pickle,
but only Arrow needs no package besides; Minari deserialises the spaces from JSON either way. Images are stored
raw (``jpeg_encoding=False``), as Minari's default JPEG is lossy. Loading runs no code from the dataset:
:func:`load_demos` reads the metadata as JSON first and refuses a dataset without its spaces (Minari would build
its env from the recorded ``env_spec`` instead, importing the env's module), and refuses Arrow extension types
(Ray's pickled-object columns unpickle when read) before Minari decodes a column.

Names (``--out`` of ``rayrl record-demos``, R2D3's ``demos``): a filesystem path when it starts with ``/``, ``.`` or
``~`` (``./demos/cartpole``), which no Minari id can; otherwise a Minari dataset id ``[NAMESPACE/]NAME-vVERSION``
(letters, digits, ``-`` and ``_``; the namespace may nest with ``/``; the version is a whole number, e.g.
``rayrl/cartpole-expert-v0``), stored in Minari's local datasets directory: ``$MINARI_DATASETS_PATH``, else
``~/.minari/datasets``. Either way the dataset directory has the same layout, so ``minari`` reads both.

Episodes, as :func:`load_demos` returns them (the per-step names of the replay's items), with T steps:
  obs         [T + 1, *obs_shape]  the observation before each step, then the one after the last step
  action      [T, *action_shape]   the action's dtype (int64 for Discrete)
  reward      [T] float32
  terminated  [T] bool,  truncated [T] bool   an episode ends at its last step, and only there
"""

from rayrl.demos.dataset import dataset_directory
from rayrl.demos.load import load_demos
from rayrl.demos.record import find_policy, record_demos

__all__ = ["dataset_directory", "find_policy", "load_demos", "record_demos"]

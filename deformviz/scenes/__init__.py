"""Procedural training scenes: shapes, textures, occlusion, ground truth and a dataset.

Data flow: :mod:`.shapes` (canonical class shapes) -> :mod:`.pose` and :mod:`.raster`
(posed binary masks) -> :mod:`.textures` / :mod:`.photos` (fills and backgrounds) ->
:mod:`.canvas` (occlusion) -> :mod:`.generator` (``Scene``) -> :mod:`.annotation` (PNG +
JSON) and :mod:`.dataset` (torch tensors; import it as ``deformviz.scenes.dataset``
so that making scenes does not import torch).
"""

from .annotation import load_scene, save_scene, scene_from_json, scene_to_json
from .generator import CLASS_NAMES, SceneConfig, SceneGenerator, make_scene
from .scene import Scene, tight_boxes

__all__ = [
    "CLASS_NAMES",
    "Scene",
    "SceneConfig",
    "SceneGenerator",
    "load_scene",
    "make_scene",
    "save_scene",
    "scene_from_json",
    "scene_to_json",
    "tight_boxes",
]

"""Models: `Sequential` (a stack of layers), `Model(inputs, outputs)` (the Functional API: any
graph of layers), their training loop (`training`), how Sequential runs (`plan`), the summary
table (`summary`) and the progress bar (`progress`)."""

from striate.models.cloning import clone_model, model_from_json, save_model
from striate.models.functional import Functional
from striate.models.model import Model
from striate.models.sequential import Sequential
from striate.models.tools import _TOOLS, load_model, register_tool

__all__ = [
    "Functional",
    "Model",
    "Sequential",
    "_TOOLS",
    "clone_model",
    "load_model",
    "model_from_json",
    "register_tool",
    "save_model",
]

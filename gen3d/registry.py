"""The registries of gen3d, children of mmengine's root registries.

Every other module imports registries from here only. Each child lists the package ``locations`` that hold
its modules, so building ``dict(type='UniAD')`` under ``default_scope='gen3d'`` imports ``gen3d.models``
on demand; users never call a ``register_all_modules()``.

Roles are told apart by folder, not by registry: backbones, heads, losses and whole models all live in
:data:`MODELS` (as mmseg does).
"""

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

SCOPE = "gen3d"

# Runners and training/validation loops.
RUNNERS = Registry("runner", parent=MMENGINE_RUNNERS, scope=SCOPE, locations=["gen3d.engine"])
LOOPS = Registry("loop", parent=MMENGINE_LOOPS, scope=SCOPE, locations=["gen3d.engine"])
# Hooks: cross-cutting only (EMA, visualisation, RNG state); algorithm logic lives in models.
HOOKS = Registry("hook", parent=MMENGINE_HOOKS, scope=SCOPE, locations=["gen3d.engine"])

# Data.
DATASETS = Registry("dataset", parent=MMENGINE_DATASETS, scope=SCOPE, locations=["gen3d.datasets"])
DATA_SAMPLERS = Registry("data sampler", parent=MMENGINE_DATA_SAMPLERS, scope=SCOPE, locations=["gen3d.datasets"])
TRANSFORMS = Registry("transform", parent=MMENGINE_TRANSFORMS, scope=SCOPE, locations=["gen3d.datasets.transforms"])

# Models: backbones, heads, losses, data preprocessors and whole models, told apart by folder.
MODELS = Registry("model", parent=MMENGINE_MODELS, scope=SCOPE, locations=["gen3d.models"])
MODEL_WRAPPERS = Registry("model_wrapper", parent=MMENGINE_MODEL_WRAPPERS, scope=SCOPE, locations=["gen3d.engine"])
WEIGHT_INITIALIZERS = Registry(
    "weight initializer", parent=MMENGINE_WEIGHT_INITIALIZERS, scope=SCOPE, locations=["gen3d.models"]
)

# Optimisation: several optimizers per model (GAN G/D, teacher-student) go through OptimWrapperDict.
OPTIMIZERS = Registry("optimizer", parent=MMENGINE_OPTIMIZERS, scope=SCOPE, locations=["gen3d.engine"])
OPTIM_WRAPPERS = Registry("optim_wrapper", parent=MMENGINE_OPTIM_WRAPPERS, scope=SCOPE, locations=["gen3d.engine"])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    "optimizer wrapper constructor", parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope=SCOPE, locations=["gen3d.engine"]
)
PARAM_SCHEDULERS = Registry(
    "parameter scheduler", parent=MMENGINE_PARAM_SCHEDULERS, scope=SCOPE, locations=["gen3d.engine"]
)

# Evaluation.
METRICS = Registry("metric", parent=MMENGINE_METRICS, scope=SCOPE, locations=["gen3d.evaluation"])
EVALUATOR = Registry("evaluator", parent=MMENGINE_EVALUATOR, scope=SCOPE, locations=["gen3d.evaluation"])

# Miscellaneous.
TASK_UTILS = Registry("task util", parent=MMENGINE_TASK_UTILS, scope=SCOPE, locations=["gen3d.models"])
VISUALIZERS = Registry("visualizer", parent=MMENGINE_VISUALIZERS, scope=SCOPE, locations=["gen3d.engine"])
VISBACKENDS = Registry("vis_backend", parent=MMENGINE_VISBACKENDS, scope=SCOPE, locations=["gen3d.engine"])
LOG_PROCESSORS = Registry("log_processor", parent=MMENGINE_LOG_PROCESSORS, scope=SCOPE, locations=["gen3d.engine"])
FUNCTIONS = Registry("function", parent=MMENGINE_FUNCTIONS, scope=SCOPE, locations=["gen3d.datasets"])

ALL_REGISTRIES = {
    r.name: r
    for r in (
        RUNNERS, LOOPS, HOOKS, DATASETS, DATA_SAMPLERS, TRANSFORMS, MODELS, MODEL_WRAPPERS, WEIGHT_INITIALIZERS,
        OPTIMIZERS, OPTIM_WRAPPERS, OPTIM_WRAPPER_CONSTRUCTORS, PARAM_SCHEDULERS, METRICS, EVALUATOR, TASK_UTILS,
        VISUALIZERS, VISBACKENDS, LOG_PROCESSORS, FUNCTIONS,
    )
}

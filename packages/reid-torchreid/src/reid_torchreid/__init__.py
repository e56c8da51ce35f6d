"""reid_torchreid: the torchreid family of reid-zoo.

deep-person-reid's (KaiyangZhou/deep-person-reid) OSNet, OSNet-IBN, OSNet-AIN and MLFN, with
its parameter names, so that its checkpoints and the seed project's retrained weights load as
they are.
"""

from reid_core import Family

# Defined before the model modules are imported: they register their builders on it.
family = Family("torchreid", package="reid-torchreid", module="reid_torchreid")

from . import models  # noqa: E402,F401  (registers the *_dpr builders)
from .mlfn import MLFN  # noqa: E402
from .osnet import OSNet  # noqa: E402
from .osnet_ain import OSNetAIN  # noqa: E402
from .pretrain import backbone_spec  # noqa: E402

family.backbone_spec = backbone_spec

__all__ = ["MLFN", "OSNet", "OSNetAIN", "family"]

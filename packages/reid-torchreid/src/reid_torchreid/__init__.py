"""reid_torchreid: the torchreid family of reid-zoo."""

from reid_core import Family

family = Family("torchreid", package="reid-torchreid", module="reid_torchreid")

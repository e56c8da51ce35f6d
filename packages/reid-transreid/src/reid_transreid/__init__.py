"""reid_transreid: the transreid family of reid-zoo."""

from reid_core import Family

family = Family("transreid", package="reid-transreid", module="reid_transreid")

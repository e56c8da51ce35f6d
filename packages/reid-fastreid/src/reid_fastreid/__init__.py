"""reid_fastreid: the fastreid family of reid-zoo."""

from reid_core import Family

family = Family("fastreid", package="reid-fastreid", module="reid_fastreid")

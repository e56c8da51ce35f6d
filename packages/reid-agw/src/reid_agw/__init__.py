"""reid_agw: the agw family of reid-zoo."""

from reid_core import Family

family = Family("agw", package="reid-agw", module="reid_agw")

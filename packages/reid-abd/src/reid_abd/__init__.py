"""reid_abd: the abd family of reid-zoo."""

from reid_core import Family

family = Family("abd", package="reid-abd", module="reid_abd")

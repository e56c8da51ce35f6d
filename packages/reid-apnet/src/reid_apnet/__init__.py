"""reid_apnet: the apnet family of reid-zoo."""

from reid_core import Family

family = Family("apnet", package="reid-apnet", module="reid_apnet")

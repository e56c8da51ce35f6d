"""reid_bot: the bot family of reid-zoo."""

from reid_core import Family

family = Family("bot", package="reid-bot", module="reid_bot")

"""`python -m bot sandbox`: Kuaibao without Telegram, in one process: the Bot API stand-in (botapi.py), the real bot
long-polling it on its own SQLite file, a web page where one person plays every role (web.py), a clock that can be
moved forward (clock.py), a seeded office (seed.py) and drills that play themselves (drills.py). docs/sandbox.md."""

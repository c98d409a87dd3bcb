"""Kuaibao (快报): the Telegram front end of an emergency information reporting system."""

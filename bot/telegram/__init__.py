"""The Telegram adapter: update middlewares, polling, the notifier, callback data, keyboards, presenters
and catalogs. It turns updates into use-case calls and use-case results into messages."""

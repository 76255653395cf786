"""A Binance-compatible paper exchange: spot ``/api/v3`` and USD-M futures ``/fapi``.

python-binance's ``Client``/``AsyncClient`` and ccxt drive it unmodified (only the base
URL differs). Orders match against a seeded random-walk price; an admin API under
``/_paper/`` sets prices, injects faults and lists every order the exchange accepted.
"""

from paper_exchange.app import create_app
from paper_exchange.config import PaperExchangeConfig

__all__ = ["PaperExchangeConfig", "create_app"]

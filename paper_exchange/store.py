"""SQLite persistence of the engine: orders, algo orders, trades, balances, positions, IDs.

One small transaction per state-changing request (WAL, ``synchronous=NORMAL``): a
process killed with SIGKILL keeps everything it answered. Records are JSON documents
keyed by their IDs, so the schema stays stable while the records evolve.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from paper_exchange.accounts import Balance, Position
from paper_exchange.engine import Engine
from paper_exchange.orders import AlgoOrder, Order, Trade, from_doc, to_doc

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (market TEXT NOT NULL, order_id INTEGER NOT NULL, doc TEXT NOT NULL,
                                   PRIMARY KEY (market, order_id));
CREATE TABLE IF NOT EXISTS algo_orders (algo_id INTEGER PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trades (market TEXT NOT NULL, trade_id INTEGER NOT NULL, doc TEXT NOT NULL,
                                   PRIMARY KEY (market, trade_id));
CREATE TABLE IF NOT EXISTS balances (asset TEXT PRIMARY KEY, free TEXT NOT NULL, locked TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
TABLES = ("orders", "algo_orders", "trades", "balances", "positions", "meta")


@dataclass
class Snapshot:
    orders: list[Order] = field(default_factory=list)
    algos: list[AlgoOrder] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    balances: dict[str, Balance] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


class Store:
    """Writes the engine's changes to SQLite and reads them back at start-up."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def load(self) -> Snapshot | None:
        """Everything persisted, or ``None`` for a fresh file."""
        meta = {key: json.loads(value) for key, value in self._db.execute("SELECT key, value FROM meta")}
        if "next_ids" not in meta:
            return None
        snapshot = Snapshot(meta=meta)
        snapshot.orders = [from_doc(Order, json.loads(d)) for (d,) in self._db.execute("SELECT doc FROM orders")]
        snapshot.algos = [from_doc(AlgoOrder, json.loads(d)) for (d,) in self._db.execute("SELECT doc FROM algo_orders")]
        snapshot.trades = [from_doc(Trade, json.loads(d)) for (d,) in self._db.execute("SELECT doc FROM trades")]
        for asset, free, locked in self._db.execute("SELECT asset, free, locked FROM balances"):
            snapshot.balances[asset] = Balance(Decimal(free), Decimal(locked))
        for (doc,) in self._db.execute("SELECT doc FROM positions"):
            data = json.loads(doc)
            snapshot.positions[data["symbol"]] = Position(
                symbol=data["symbol"],
                amount=Decimal(data["amount"]),
                entry_price=Decimal(data["entry_price"]),
                leverage=int(data["leverage"]),
                update_time=int(data["update_time"]),
            )
        return snapshot

    def clear(self) -> None:
        with self._transaction():
            for table in TABLES:
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names

    def flush(self, engine: Engine, held_prices: dict[str, str] | None = None) -> None:
        """Write every change the engine made since the last flush, in one transaction."""
        orders, algos, trades = engine.drain()
        balances = engine.balances
        futures = engine.futures
        if not (orders or algos or trades or balances.dirty or futures.dirty or futures.wallet_dirty
                or engine.ids_dirty or held_prices is not None):
            return
        db = self._db
        with self._transaction():
            if orders:
                db.executemany(
                    "INSERT OR REPLACE INTO orders VALUES (?, ?, ?)",
                    [(o.market, o.order_id, json.dumps(to_doc(o))) for o in orders],
                )
            if algos:
                db.executemany(
                    "INSERT OR REPLACE INTO algo_orders VALUES (?, ?)",
                    [(a.algo_id, json.dumps(to_doc(a))) for a in algos],
                )
            if trades:
                db.executemany(
                    "INSERT OR REPLACE INTO trades VALUES (?, ?, ?)",
                    [(t.market, t.trade_id, json.dumps(to_doc(t))) for t in trades],
                )
            if balances.dirty:
                rows = [(a, str(balances.assets[a].free), str(balances.assets[a].locked)) for a in balances.dirty]
                db.executemany("INSERT OR REPLACE INTO balances VALUES (?, ?, ?)", rows)
                balances.dirty = set()
            if futures.dirty:
                db.executemany(
                    "INSERT OR REPLACE INTO positions VALUES (?, ?)",
                    [(s, json.dumps(_position_doc(futures.positions[s]))) for s in futures.dirty],
                )
                futures.dirty = set()
            meta: dict[str, Any] = {}
            if engine.ids_dirty:
                meta["next_ids"] = engine.next_ids
                engine.ids_dirty = False
            if futures.wallet_dirty:
                meta["futures_wallet"] = str(futures.wallet)
                futures.wallet_dirty = False
            if held_prices is not None:
                meta["held_prices"] = held_prices
            if meta:
                db.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()]
                )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")


def _position_doc(position: Position) -> dict[str, Any]:
    return {
        "symbol": position.symbol,
        "amount": str(position.amount),
        "entry_price": str(position.entry_price),
        "leverage": position.leverage,
        "update_time": position.update_time,
    }

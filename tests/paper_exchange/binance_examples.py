"""Binance's documented response examples, one per endpoint the paper exchange serves.

Each constant is the example body of the page named in the comment above it, as published
(comments and trailing commas of the ``javascript`` blocks removed). Spot examples come from
binance/binance-spot-api-docs (``rest-api.md``, ``filters.md``, July 2026); the USDⓈ-M futures
ones from Binance's derivatives documentation, as reproduced in the official Python SDK's unit
tests (binance/binance-connector-python, August 2026). ``test_shapes.py`` compares the paper
exchange's bodies to them: same keys, same JSON types.

Edits to what was published, each for a reason:
- SPOT_EXCHANGE_INFO: ``rateLimits`` holds one entry of the documented shape (the example
  leaves it as a comment); the optional ``sors`` is left out (present only where SOR runs);
  ``filters`` are compared filter by filter with the SPOT_FILTER_* examples.
- FUTURES_KLINE_CANDLESTICK_DATA: the published page's row (the SDK keeps only its open time).
- FUTURES_CANCEL_ORDER: the published page's example (zh-CN edition of the page named);
  the SDK's copy drops ``cumQuote``.
- ``icebergQuantity`` of the algo order examples: ``null`` as Binance publishes it (the SDK
  turned it into the string ``"None"``).
- FUTURES_EXCHANGE_INFORMATION: the SDK merges every filter into one object; the published
  page lists them apart, as FUTURES_FILTERS does; ``exchangeFilters`` is an empty list.
"""

# ruff: noqa: E501

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#test-connectivity
SPOT_PING = {}

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#check-server-time
SPOT_TIME = {'serverTime': 1499827319559}

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#exchange-information (rateLimits entry: enums.md#rate-limiters-ratelimittype)
SPOT_EXCHANGE_INFO = {'timezone': 'UTC',
 'serverTime': 1565246363776,
 'rateLimits': [{'rateLimitType': 'REQUEST_WEIGHT', 'interval': 'MINUTE', 'intervalNum': 1, 'limit': 6000}],
 'exchangeFilters': [],
 'symbols': [{'symbol': 'ETHBTC',
              'status': 'TRADING',
              'baseAsset': 'ETH',
              'baseAssetPrecision': 8,
              'quoteAsset': 'BTC',
              'quotePrecision': 8,
              'quoteAssetPrecision': 8,
              'baseCommissionPrecision': 8,
              'quoteCommissionPrecision': 8,
              'orderTypes': ['LIMIT',
                             'LIMIT_MAKER',
                             'MARKET',
                             'STOP_LOSS',
                             'STOP_LOSS_LIMIT',
                             'TAKE_PROFIT',
                             'TAKE_PROFIT_LIMIT'],
              'icebergAllowed': True,
              'ocoAllowed': True,
              'otoAllowed': True,
              'opoAllowed': True,
              'quoteOrderQtyMarketAllowed': True,
              'allowTrailingStop': False,
              'cancelReplaceAllowed': False,
              'amendAllowed': False,
              'pegInstructionsAllowed': True,
              'isSpotTradingAllowed': True,
              'isMarginTradingAllowed': True,
              'filters': [],
              'permissions': [],
              'permissionSets': [['SPOT', 'MARGIN']],
              'defaultSelfTradePreventionMode': 'NONE',
              'allowedSelfTradePreventionModes': ['NONE']}]}

# https://github.com/binance/binance-spot-api-docs/blob/master/filters.md#price_filter
SPOT_FILTER_PRICE_FILTER = {'filterType': 'PRICE_FILTER',
 'minPrice': '0.00000100',
 'maxPrice': '100000.00000000',
 'tickSize': '0.00000100'}

# https://github.com/binance/binance-spot-api-docs/blob/master/filters.md#lot_size
SPOT_FILTER_LOT_SIZE = {'filterType': 'LOT_SIZE', 'minQty': '0.00100000', 'maxQty': '100000.00000000', 'stepSize': '0.00100000'}

# https://github.com/binance/binance-spot-api-docs/blob/master/filters.md#market_lot_size
SPOT_FILTER_MARKET_LOT_SIZE = {'filterType': 'MARKET_LOT_SIZE',
 'minQty': '0.00100000',
 'maxQty': '100000.00000000',
 'stepSize': '0.00100000'}

# https://github.com/binance/binance-spot-api-docs/blob/master/filters.md#notional
SPOT_FILTER_NOTIONAL = {'filterType': 'NOTIONAL',
 'minNotional': '10.00000000',
 'applyMinToMarket': False,
 'maxNotional': '10000.00000000',
 'applyMaxToMarket': False,
 'avgPriceMins': 5}

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#order-book
SPOT_DEPTH = {'lastUpdateId': 1027024, 'bids': [['4.00000000', '431.00000000']], 'asks': [['4.00000200', '12.00000000']]}

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#klinecandlestick-data
SPOT_KLINES = [[1499040000000,
  '0.01634790',
  '0.80000000',
  '0.01575800',
  '0.01577100',
  '148976.11427815',
  1499644799999,
  '2434.19055334',
  308,
  '1756.87402397',
  '28.46694368',
  '0']]

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#24hr-ticker-price-change-statistics (FULL)
SPOT_TICKER_24HR = {'symbol': 'BNBBTC',
 'priceChange': '-94.99999800',
 'priceChangePercent': '-95.960',
 'weightedAvgPrice': '0.29628482',
 'prevClosePrice': '0.10002000',
 'lastPrice': '4.00000200',
 'lastQty': '200.00000000',
 'bidPrice': '4.00000000',
 'bidQty': '100.00000000',
 'askPrice': '4.00000200',
 'askQty': '100.00000000',
 'openPrice': '99.00000000',
 'highPrice': '100.00000000',
 'lowPrice': '0.10000000',
 'volume': '8913.30000000',
 'quoteVolume': '15.30000000',
 'openTime': 1499783499040,
 'closeTime': 1499869899040,
 'firstId': 28385,
 'lastId': 28460,
 'count': 76}

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#24hr-ticker-price-change-statistics (MINI)
SPOT_TICKER_24HR_MINI = {'symbol': 'BNBBTC',
 'openPrice': '99.00000000',
 'highPrice': '100.00000000',
 'lowPrice': '0.10000000',
 'lastPrice': '4.00000200',
 'volume': '8913.30000000',
 'quoteVolume': '15.30000000',
 'openTime': 1499783499040,
 'closeTime': 1499869899040,
 'firstId': 28385,
 'lastId': 28460,
 'count': 76}

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#symbol-price-ticker
SPOT_TICKER_PRICE = {'symbol': 'LTCBTC', 'price': '4.00000200'}

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#symbol-order-book-ticker
SPOT_BOOK_TICKER = {'symbol': 'LTCBTC',
 'bidPrice': '4.00000000',
 'bidQty': '431.00000000',
 'askPrice': '4.00000200',
 'askQty': '9.00000000'}

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#new-order-trade (ACK)
SPOT_ORDER_ACK = {'symbol': 'BTCUSDT',
 'orderId': 28,
 'orderListId': -1,
 'clientOrderId': '6gCrw2kRUAF9CvJDGP16IP',
 'transactTime': 1507725176595}

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#new-order-trade (RESULT)
SPOT_ORDER_RESULT = {'symbol': 'BTCUSDT',
 'orderId': 28,
 'orderListId': -1,
 'clientOrderId': '6gCrw2kRUAF9CvJDGP16IP',
 'transactTime': 1507725176595,
 'price': '0.00000000',
 'origQty': '10.00000000',
 'executedQty': '10.00000000',
 'origQuoteOrderQty': '0.000000',
 'cummulativeQuoteQty': '10.00000000',
 'status': 'FILLED',
 'timeInForce': 'GTC',
 'type': 'MARKET',
 'side': 'SELL',
 'workingTime': 1507725176595,
 'selfTradePreventionMode': 'NONE'}

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#new-order-trade (FULL)
SPOT_ORDER_FULL = {'symbol': 'BTCUSDT',
 'orderId': 28,
 'orderListId': -1,
 'clientOrderId': '6gCrw2kRUAF9CvJDGP16IP',
 'transactTime': 1507725176595,
 'price': '0.00000000',
 'origQty': '10.00000000',
 'executedQty': '10.00000000',
 'origQuoteOrderQty': '0.000000',
 'cummulativeQuoteQty': '10.00000000',
 'status': 'FILLED',
 'timeInForce': 'GTC',
 'type': 'MARKET',
 'side': 'SELL',
 'workingTime': 1507725176595,
 'selfTradePreventionMode': 'NONE',
 'fills': [{'price': '4000.00000000',
            'qty': '1.00000000',
            'commission': '4.00000000',
            'commissionAsset': 'USDT',
            'tradeId': 56},
           {'price': '3999.00000000',
            'qty': '5.00000000',
            'commission': '19.99500000',
            'commissionAsset': 'USDT',
            'tradeId': 57},
           {'price': '3998.00000000',
            'qty': '2.00000000',
            'commission': '7.99600000',
            'commissionAsset': 'USDT',
            'tradeId': 58},
           {'price': '3997.00000000',
            'qty': '1.00000000',
            'commission': '3.99700000',
            'commissionAsset': 'USDT',
            'tradeId': 59},
           {'price': '3995.00000000',
            'qty': '1.00000000',
            'commission': '3.99500000',
            'commissionAsset': 'USDT',
            'tradeId': 60}]}

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#test-new-order-trade
SPOT_ORDER_TEST = {}

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#cancel-order-trade
SPOT_CANCEL = {'symbol': 'LTCBTC',
 'origClientOrderId': 'myOrder1',
 'orderId': 4,
 'orderListId': -1,
 'clientOrderId': 'cancelMyOrder1',
 'transactTime': 1684804350068,
 'price': '2.00000000',
 'origQty': '1.00000000',
 'executedQty': '0.00000000',
 'origQuoteOrderQty': '0.000000',
 'cummulativeQuoteQty': '0.00000000',
 'status': 'CANCELED',
 'timeInForce': 'GTC',
 'type': 'LIMIT',
 'side': 'BUY',
 'selfTradePreventionMode': 'NONE'}

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#query-order-user_data
SPOT_QUERY_ORDER = {'symbol': 'LTCBTC',
 'orderId': 1,
 'orderListId': -1,
 'clientOrderId': 'myOrder1',
 'price': '0.1',
 'origQty': '1.0',
 'executedQty': '0.0',
 'cummulativeQuoteQty': '0.0',
 'status': 'NEW',
 'timeInForce': 'GTC',
 'type': 'LIMIT',
 'side': 'BUY',
 'stopPrice': '0.0',
 'icebergQty': '0.0',
 'time': 1499827319559,
 'updateTime': 1499827319559,
 'isWorking': True,
 'workingTime': 1499827319559,
 'origQuoteOrderQty': '0.000000',
 'selfTradePreventionMode': 'NONE'}

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#current-open-orders-user_data
SPOT_OPEN_ORDERS = [{'symbol': 'LTCBTC',
  'orderId': 1,
  'orderListId': -1,
  'clientOrderId': 'myOrder1',
  'price': '0.1',
  'origQty': '1.0',
  'executedQty': '0.0',
  'cummulativeQuoteQty': '0.0',
  'status': 'NEW',
  'timeInForce': 'GTC',
  'type': 'LIMIT',
  'side': 'BUY',
  'stopPrice': '0.0',
  'icebergQty': '0.0',
  'time': 1499827319559,
  'updateTime': 1499827319559,
  'isWorking': True,
  'origQuoteOrderQty': '0.000000',
  'workingTime': 1499827319559,
  'selfTradePreventionMode': 'NONE'}]

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#account-information-user_data
SPOT_ACCOUNT = {'makerCommission': 15,
 'takerCommission': 15,
 'buyerCommission': 0,
 'sellerCommission': 0,
 'commissionRates': {'maker': '0.00150000',
                     'taker': '0.00150000',
                     'buyer': '0.00000000',
                     'seller': '0.00000000'},
 'canTrade': True,
 'canWithdraw': True,
 'canDeposit': True,
 'brokered': False,
 'requireSelfTradePrevention': False,
 'preventSor': False,
 'updateTime': 123456789,
 'accountType': 'SPOT',
 'balances': [{'asset': 'BTC', 'free': '4723846.89208129', 'locked': '0.00000000'},
              {'asset': 'LTC', 'free': '4763368.68006011', 'locked': '0.00000000'}],
 'permissions': ['SPOT'],
 'uid': 354937868}

# https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#account-trade-list-user_data
SPOT_MY_TRADES = [{'symbol': 'BNBBTC',
  'id': 28457,
  'orderId': 100234,
  'orderListId': -1,
  'price': '4.00000100',
  'qty': '12.00000000',
  'quoteQty': '48.000012',
  'commission': '10.10000000',
  'commissionAsset': 'BNB',
  'time': 1499865549590,
  'isBuyer': True,
  'isMaker': False,
  'isBestMatch': True}]

# https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_market_data_api.py)
FUTURES_EXCHANGE_INFORMATION = {'exchangeFilters': [''],
 'rateLimits': [{'interval': 'MINUTE', 'intervalNum': 1, 'limit': 2400, 'rateLimitType': 'REQUEST_WEIGHT'}],
 'serverTime': 1565613908500,
 'assets': [{'asset': 'BTC', 'marginAvailable': True, 'autoAssetExchange': '-0.10'}],
 'symbols': [{'symbol': 'BLZUSDT',
              'pair': 'BLZUSDT',
              'contractType': 'PERPETUAL',
              'deliveryDate': 4133404800000,
              'onboardDate': 1598252400000,
              'status': 'TRADING',
              'maintMarginPercent': '2.5000',
              'requiredMarginPercent': '5.0000',
              'baseAsset': 'BLZ',
              'quoteAsset': 'USDT',
              'marginAsset': 'USDT',
              'pricePrecision': 5,
              'quantityPrecision': 0,
              'baseAssetPrecision': 8,
              'quotePrecision': 8,
              'underlyingType': 'COIN',
              'underlyingSubType': ['STORAGE'],
              'settlePlan': 0,
              'triggerProtect': '0.15',
              'filters': [{'filterType': 'PRICE_FILTER',
                           'maxPrice': '300',
                           'minPrice': '0.0001',
                           'tickSize': '0.0001',
                           'maxQty': '10000000',
                           'minQty': '1',
                           'stepSize': '1',
                           'limit': 200,
                           'notional': '5.0',
                           'multiplierUp': '1.1500',
                           'multiplierDown': '0.8500',
                           'multiplierDecimal': '4'}],
              'orderTypes': ['LIMIT'],
              'timeInForce': ['GTC'],
              'liquidationFee': '0.010000',
              'marketTakeBound': '0.30'}],
 'timezone': 'UTC'}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Mark-Price (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_market_data_api.py)
FUTURES_MARK_PRICE = {'symbol': 'BTCUSDT',
 'markPrice': '11793.63104562',
 'indexPrice': '11781.80495970',
 'estimatedSettlePrice': '11781.16138815',
 'lastFundingRate': '0.00038246',
 'interestRate': '0.00010000',
 'nextFundingTime': 1597392000000,
 'time': 1597370495002}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Symbol-Price-Ticker (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_market_data_api.py)
FUTURES_SYMBOL_PRICE_TICKER = {'symbol': 'BTCUSDT', 'price': '6000.01', 'time': 1589437530011}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Symbol-Price-Ticker-v2 (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_market_data_api.py)
FUTURES_SYMBOL_PRICE_TICKER_V2 = {'symbol': 'BTCUSDT', 'price': '6000.01', 'time': 1589437530011}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Order-Book (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_market_data_api.py)
FUTURES_ORDER_BOOK = {'lastUpdateId': 1027024,
 'E': 1589436922972,
 'T': 1589436922959,
 'bids': [['4.00000000', '431.00000000']],
 'asks': [['4.00000200', '12.00000000']]}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Kline-Candlestick-Data
FUTURES_KLINE_CANDLESTICK_DATA = [[1499040000000, '0.01634790', '0.80000000', '0.01575800', '0.01577100', '148976.11427815', 1499644799999,
                                   '2434.19055334', 308, '1756.87402397', '28.46694368', '17928899.62484339']]

# https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/24hr-Ticker-Price-Change-Statistics (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_market_data_api.py)
FUTURES_TICKER24HR_PRICE_CHANGE_STATISTICS = {'symbol': 'BTCUSDT',
 'priceChange': '-94.99999800',
 'priceChangePercent': '-95.960',
 'weightedAvgPrice': '0.29628482',
 'lastPrice': '4.00000200',
 'lastQty': '200.00000000',
 'openPrice': '99.00000000',
 'highPrice': '100.00000000',
 'lowPrice': '0.10000000',
 'volume': '8913.30000000',
 'quoteVolume': '15.30000000',
 'openTime': 1499783499040,
 'closeTime': 1499869899040,
 'firstId': 28385,
 'lastId': 28460,
 'count': 76}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Symbol-Order-Book-Ticker (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_market_data_api.py)
FUTURES_SYMBOL_ORDER_BOOK_TICKER = {'symbol': 'BTCUSDT',
 'bidPrice': '4.00000000',
 'bidQty': '431.00000000',
 'askPrice': '4.00000200',
 'askQty': '9.00000000',
 'time': 1589437530011}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Order (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_trade_api.py (test_order: the New Order example))
FUTURES_TEST_ORDER = {'clientOrderId': 'testOrder',
 'cumQty': '0',
 'cumQuote': '0',
 'executedQty': '0',
 'orderId': 22542179,
 'avgPrice': '0.00000',
 'origQty': '10',
 'price': '0',
 'reduceOnly': False,
 'side': 'SELL',
 'positionSide': 'SHORT',
 'status': 'NEW',
 'stopPrice': '0',
 'closePosition': False,
 'symbol': 'BTCUSDT',
 'timeInForce': 'GTD',
 'type': 'TRAILING_STOP_MARKET',
 'origType': 'TRAILING_STOP_MARKET',
 'activatePrice': '9020',
 'priceRate': '0.3',
 'updateTime': 1566818724722,
 'workingType': 'CONTRACT_PRICE',
 'priceProtect': False,
 'priceMatch': 'NONE',
 'selfTradePreventionMode': 'NONE',
 'goodTillDate': 1693207680000}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Query-Order (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_trade_api.py)
FUTURES_QUERY_ORDER = {'avgPrice': '0.00000',
 'clientOrderId': 'abc',
 'cumQuote': '0',
 'executedQty': '0',
 'orderId': 1573346959,
 'origQty': '0.40',
 'origType': 'TRAILING_STOP_MARKET',
 'price': '0',
 'reduceOnly': False,
 'side': 'BUY',
 'positionSide': 'SHORT',
 'status': 'NEW',
 'stopPrice': '9300',
 'closePosition': False,
 'symbol': 'BTCUSDT',
 'time': 1579276756075,
 'timeInForce': 'GTC',
 'type': 'TRAILING_STOP_MARKET',
 'activatePrice': '9020',
 'priceRate': '0.3',
 'updateTime': 1579276756075,
 'workingType': 'CONTRACT_PRICE',
 'priceProtect': False,
 'priceMatch': 'NONE',
 'selfTradePreventionMode': 'NONE',
 'goodTillDate': 0}

# https://developers.binance.com/docs/zh-CN/derivatives/usds-margined-futures/trade/rest-api/Cancel-Order
FUTURES_CANCEL_ORDER = {'clientOrderId': 'myOrder1',
 'cumQty': '0',
 'cumQuote': '0',
 'executedQty': '0',
 'orderId': 283194212,
 'origQty': '11',
 'price': '0',
 'reduceOnly': False,
 'side': 'BUY',
 'positionSide': 'SHORT',
 'status': 'CANCELED',
 'stopPrice': '9300',
 'closePosition': False,
 'symbol': 'BTCUSDT',
 'timeInForce': 'GTC',
 'origType': 'TRAILING_STOP_MARKET',
 'type': 'TRAILING_STOP_MARKET',
 'activatePrice': '9020',
 'priceRate': '0.3',
 'updateTime': 1571110484038,
 'workingType': 'CONTRACT_PRICE',
 'priceProtect': False,
 'priceMatch': 'NONE',
 'selfTradePreventionMode': 'NONE',
 'goodTillDate': 0}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Current-All-Open-Orders (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_trade_api.py)
FUTURES_CURRENT_ALL_OPEN_ORDERS = [{'avgPrice': '0.00000',
  'clientOrderId': 'abc',
  'cumQuote': '0',
  'executedQty': '0',
  'orderId': 1917641,
  'origQty': '0.40',
  'origType': 'TRAILING_STOP_MARKET',
  'price': '0',
  'reduceOnly': False,
  'side': 'BUY',
  'positionSide': 'SHORT',
  'status': 'NEW',
  'stopPrice': '9300',
  'closePosition': False,
  'symbol': 'BTCUSDT',
  'time': 1579276756075,
  'timeInForce': 'GTC',
  'type': 'TRAILING_STOP_MARKET',
  'activatePrice': '9020',
  'priceRate': '0.3',
  'updateTime': 1579276756075,
  'workingType': 'CONTRACT_PRICE',
  'priceProtect': False,
  'priceMatch': 'NONE',
  'selfTradePreventionMode': 'NONE',
  'goodTillDate': 0}]

# https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/All-Orders (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_trade_api.py)
FUTURES_ALL_ORDERS = [{'avgPrice': '0.00000',
  'clientOrderId': 'abc',
  'cumQuote': '0',
  'cumBase': '0',
  'executedQty': '0',
  'orderId': 1917641,
  'origQty': '0.40',
  'origType': 'TRAILING_STOP_MARKET',
  'price': '0',
  'reduceOnly': False,
  'side': 'BUY',
  'positionSide': 'SHORT',
  'status': 'NEW',
  'stopPrice': '9300',
  'closePosition': False,
  'symbol': 'BTCUSDT',
  'pair': 'BTCUSDT',
  'time': 1579276756075,
  'timeInForce': 'GTC',
  'type': 'TRAILING_STOP_MARKET',
  'activatePrice': '9020',
  'priceRate': '0.3',
  'updateTime': 1579276756075,
  'workingType': 'CONTRACT_PRICE',
  'priceProtect': False,
  'priceMatch': 'NONE',
  'selfTradePreventionMode': 'NONE',
  'goodTillDate': 0}]

# https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Change-Initial-Leverage (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_trade_api.py)
FUTURES_CHANGE_INITIAL_LEVERAGE = {'leverage': 21, 'maxNotionalValue': '1000000', 'symbol': 'BTCUSDT'}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Position-Information-V2 (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_trade_api.py)
FUTURES_POSITION_INFORMATION_V2 = [{'entryPrice': '0.00000',
  'breakEvenPrice': '0.0',
  'marginType': 'isolated',
  'isAutoAddMargin': 'false',
  'isolatedMargin': '0.00000000',
  'leverage': '10',
  'liquidationPrice': '0',
  'markPrice': '6679.50671178',
  'maxNotionalValue': '20000000',
  'positionAmt': '0.000',
  'notional': '0',
  'isolatedWallet': '0',
  'symbol': 'BTCUSDT',
  'unRealizedProfit': '0.00000000',
  'positionSide': 'BOTH',
  'updateTime': 1625474304765}]

# https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Position-Information-V3 (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_trade_api.py)
FUTURES_POSITION_INFORMATION_V3 = [{'symbol': 'ADAUSDT',
  'positionSide': 'BOTH',
  'positionAmt': '30',
  'entryPrice': '0.385',
  'breakEvenPrice': '0.385077',
  'markPrice': '0.41047590',
  'unRealizedProfit': '0.76427700',
  'liquidationPrice': '0',
  'isolatedMargin': '0',
  'notional': '12.31427700',
  'marginAsset': 'USDT',
  'isolatedWallet': '0',
  'initialMargin': '0.61571385',
  'maintMargin': '0.08004280',
  'positionInitialMargin': '0.61571385',
  'openOrderInitialMargin': '0',
  'adl': 2,
  'bidNotional': '0',
  'askNotional': '0',
  'updateTime': 1720736417660}]

# https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Account-Trade-List (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_trade_api.py)
FUTURES_ACCOUNT_TRADE_LIST = [{'buyer': False,
  'commission': '0.07819010',
  'commissionAsset': 'USDT',
  'id': 698759,
  'maker': False,
  'orderId': 25851813,
  'price': '7819.01',
  'qty': '0.002',
  'quoteQty': '15.63802',
  'baseQty': '0.002',
  'marginAsset': 'USDT',
  'realizedPnl': '-0.91539999',
  'side': 'SELL',
  'positionSide': 'SHORT',
  'symbol': 'BTCUSDT',
  'pair': 'BTCUSDT',
  'time': 1569514978020}]

# https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Algo-Order (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_trade_api.py)
FUTURES_NEW_ALGO_ORDER = {'algoId': 2146760,
 'clientAlgoId': '6B2I9XVcJpCjqPAJ4YoFX7',
 'algoType': 'CONDITIONAL',
 'orderType': 'TAKE_PROFIT',
 'symbol': 'BNBUSDT',
 'side': 'SELL',
 'positionSide': 'BOTH',
 'timeInForce': 'GTC',
 'quantity': '0.01',
 'algoStatus': 'NEW',
 'triggerPrice': '750.000',
 'price': '750.000',
 'icebergQuantity': None,
 'selfTradePreventionMode': 'EXPIRE_MAKER',
 'workingType': 'CONTRACT_PRICE',
 'priceMatch': 'NONE',
 'closePosition': False,
 'priceProtect': False,
 'reduceOnly': False,
 'activatePrice': '',
 'callbackRate': '',
 'createTime': 1750485492076,
 'updateTime': 1750485492076,
 'triggerTime': 0,
 'goodTillDate': 0}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Query-Algo-Order (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_trade_api.py)
FUTURES_QUERY_ALGO_ORDER = {'algoId': 2146760,
 'clientAlgoId': '6B2I9XVcJpCjqPAJ4YoFX7',
 'algoType': 'CONDITIONAL',
 'orderType': 'TAKE_PROFIT',
 'symbol': 'BNBUSDT',
 'side': 'SELL',
 'positionSide': 'BOTH',
 'timeInForce': 'GTC',
 'quantity': '0.01',
 'algoStatus': 'CANCELED',
 'actualOrderId': '',
 'actualPrice': '0.00000',
 'actualType': 'LIMIT',
 'actualQty': '0.01',
 'triggerPrice': '750.000',
 'price': '750.000',
 'icebergQuantity': None,
 'tpOrderType': '',
 'selfTradePreventionMode': 'EXPIRE_MAKER',
 'workingType': 'CONTRACT_PRICE',
 'priceMatch': 'NONE',
 'closePosition': False,
 'priceProtect': False,
 'reduceOnly': False,
 'createTime': 1750485492076,
 'updateTime': 1750514545091,
 'triggerTime': 0,
 'goodTillDate': 0}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Cancel-Algo-Order (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_trade_api.py)
FUTURES_CANCEL_ALGO_ORDER = {'algoId': 2146760, 'clientAlgoId': '6B2I9XVcJpCjqPAJ4YoFX7', 'code': '200', 'msg': 'success'}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Current-All-Algo-Open-Orders (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_trade_api.py)
FUTURES_CURRENT_ALL_ALGO_OPEN_ORDERS = [{'algoId': 2148627,
  'clientAlgoId': 'MRumok0dkhrP4kCm12AHaB',
  'algoType': 'CONDITIONAL',
  'orderType': 'TAKE_PROFIT',
  'symbol': 'BNBUSDT',
  'side': 'SELL',
  'positionSide': 'BOTH',
  'timeInForce': 'GTC',
  'quantity': '0.01',
  'algoStatus': 'NEW',
  'actualOrderId': '',
  'actualPrice': '0.00000',
  'triggerPrice': '750.000',
  'price': '750.000',
  'icebergQuantity': None,
  'tpTriggerPrice': '0.000',
  'tpPrice': '0.000',
  'slTriggerPrice': '0.000',
  'slPrice': '0.000',
  'tpOrderType': '',
  'selfTradePreventionMode': 'EXPIRE_MAKER',
  'workingType': 'CONTRACT_PRICE',
  'priceMatch': 'NONE',
  'closePosition': False,
  'priceProtect': False,
  'reduceOnly': False,
  'createTime': 1750514941540,
  'updateTime': 1750514941540,
  'triggerTime': 0,
  'goodTillDate': 0}]

# https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Query-All-Algo-Orders (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_trade_api.py)
FUTURES_QUERY_ALL_ALGO_ORDERS = [{'algoId': 2146760,
  'clientAlgoId': '6B2I9XVcJpCjqPAJ4YoFX7',
  'algoType': 'CONDITIONAL',
  'orderType': 'TAKE_PROFIT',
  'symbol': 'BNBUSDT',
  'side': 'SELL',
  'positionSide': 'BOTH',
  'timeInForce': 'GTC',
  'quantity': '0.01',
  'algoStatus': 'CANCELED',
  'actualOrderId': '',
  'actualPrice': '0.00000',
  'triggerPrice': '750.000',
  'price': '750.000',
  'icebergQuantity': None,
  'tpTriggerPrice': '0.000',
  'tpPrice': '0.000',
  'slTriggerPrice': '0.000',
  'slPrice': '0.000',
  'tpOrderType': '',
  'selfTradePreventionMode': 'EXPIRE_MAKER',
  'workingType': 'CONTRACT_PRICE',
  'priceMatch': 'NONE',
  'closePosition': False,
  'priceProtect': False,
  'reduceOnly': False,
  'createTime': 1750485492076,
  'updateTime': 1750514545091,
  'triggerTime': 0,
  'goodTillDate': 0}]

# https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Account-Information-V2 (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_account_api.py)
FUTURES_ACCOUNT_INFORMATION_V2 = {'feeTier': 0,
 'feeBurn': True,
 'canTrade': True,
 'canDeposit': True,
 'canWithdraw': True,
 'updateTime': 0,
 'multiAssetsMargin': True,
 'tradeGroupId': -1,
 'totalInitialMargin': '0.00000000',
 'totalMaintMargin': '0.00000000',
 'totalWalletBalance': '126.72469206',
 'totalUnrealizedProfit': '0.00000000',
 'totalMarginBalance': '126.72469206',
 'totalPositionInitialMargin': '0.00000000',
 'totalOpenOrderInitialMargin': '0.00000000',
 'totalCrossWalletBalance': '126.72469206',
 'totalCrossUnPnl': '0.00000000',
 'availableBalance': '126.72469206',
 'maxWithdrawAmount': '126.72469206',
 'assets': [{'asset': 'USDT',
             'walletBalance': '23.72469206',
             'unrealizedProfit': '0.00000000',
             'marginBalance': '23.72469206',
             'maintMargin': '0.00000000',
             'initialMargin': '0.00000000',
             'positionInitialMargin': '0.00000000',
             'openOrderInitialMargin': '0.00000000',
             'crossWalletBalance': '23.72469206',
             'crossUnPnl': '0.00000000',
             'availableBalance': '126.72469206',
             'maxWithdrawAmount': '23.72469206',
             'marginAvailable': True,
             'updateTime': 1625474304765}],
 'positions': [{'symbol': 'BTCUSDT',
                'initialMargin': '0',
                'maintMargin': '0',
                'unrealizedProfit': '0.00000000',
                'positionInitialMargin': '0',
                'openOrderInitialMargin': '0',
                'leverage': '100',
                'isolated': True,
                'entryPrice': '0.00000',
                'maxNotional': '250000',
                'bidNotional': '0',
                'askNotional': '0',
                'positionSide': 'BOTH',
                'positionAmt': '0',
                'updateTime': 0}]}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Account-Information-V3 (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_account_api.py)
FUTURES_ACCOUNT_INFORMATION_V3 = {'totalInitialMargin': '0.00000000',
 'totalMaintMargin': '0.00000000',
 'totalWalletBalance': '126.72469206',
 'totalUnrealizedProfit': '0.00000000',
 'totalMarginBalance': '126.72469206',
 'totalPositionInitialMargin': '0.00000000',
 'totalOpenOrderInitialMargin': '0.00000000',
 'totalCrossWalletBalance': '126.72469206',
 'totalCrossUnPnl': '0.00000000',
 'availableBalance': '126.72469206',
 'maxWithdrawAmount': '126.72469206',
 'assets': [{'asset': 'USDT',
             'walletBalance': '23.72469206',
             'unrealizedProfit': '0.00000000',
             'marginBalance': '23.72469206',
             'maintMargin': '0.00000000',
             'initialMargin': '0.00000000',
             'positionInitialMargin': '0.00000000',
             'openOrderInitialMargin': '0.00000000',
             'crossWalletBalance': '23.72469206',
             'crossUnPnl': '0.00000000',
             'availableBalance': '23.72469206',
             'maxWithdrawAmount': '23.72469206',
             'updateTime': 1625474304765}],
 'positions': [{'symbol': 'BTCUSDT',
                'positionSide': 'BOTH',
                'positionAmt': '1.000',
                'unrealizedProfit': '0.00000000',
                'isolatedMargin': '0.00000000',
                'notional': '0',
                'isolatedWallet': '0',
                'initialMargin': '0',
                'maintMargin': '0',
                'updateTime': 0}]}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Futures-Account-Balance-V2 (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_account_api.py)
FUTURES_FUTURES_ACCOUNT_BALANCE_V2 = [{'accountAlias': 'SgsR',
  'asset': 'USDT',
  'balance': '122607.35137903',
  'crossWalletBalance': '23.72469206',
  'crossUnPnl': '0.00000000',
  'availableBalance': '23.72469206',
  'maxWithdrawAmount': '23.72469206',
  'marginAvailable': True,
  'updateTime': 1617939110373}]

# https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Futures-Account-Balance-V3 (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_account_api.py)
FUTURES_FUTURES_ACCOUNT_BALANCE_V3 = [{'accountAlias': 'SgsR',
  'asset': 'USDT',
  'balance': '122607.35137903',
  'crossWalletBalance': '23.72469206',
  'crossUnPnl': '0.00000000',
  'availableBalance': '23.72469206',
  'maxWithdrawAmount': '23.72469206',
  'marginAvailable': True,
  'updateTime': 1617939110373}]

# https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams/Start-User-Data-Stream (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_user_data_streams_api.py)
FUTURES_START_USER_DATA_STREAM = {'listenKey': 'pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1'}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Check-Server-Time (as in https://github.com/binance/binance-connector-python/blob/master/clients/derivatives_trading_usds_futures/tests/unit/rest_api/test_market_data_api.py)
FUTURES_CHECK_SERVER_TIME = {'serverTime': 1499827319559}

# https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information
FUTURES_FILTERS = {
    "PRICE_FILTER": {"filterType": "PRICE_FILTER", "maxPrice": "300", "minPrice": "0.0001", "tickSize": "0.0001"},
    "LOT_SIZE": {"filterType": "LOT_SIZE", "maxQty": "10000000", "minQty": "1", "stepSize": "1"},
    "MARKET_LOT_SIZE": {"filterType": "MARKET_LOT_SIZE", "maxQty": "590119", "minQty": "1", "stepSize": "1"},
    "MAX_NUM_ORDERS": {"filterType": "MAX_NUM_ORDERS", "limit": 200},
    "MAX_NUM_ALGO_ORDERS": {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
    "MIN_NOTIONAL": {"filterType": "MIN_NOTIONAL", "notional": "5.0"},
    "PERCENT_PRICE": {"filterType": "PERCENT_PRICE", "multiplierUp": "1.1500", "multiplierDown": "0.8500", "multiplierDecimal": "4"},
}
FUTURES_EXCHANGE_INFORMATION["exchangeFilters"] = []
FUTURES_EXCHANGE_INFORMATION["symbols"][0]["filters"] = []

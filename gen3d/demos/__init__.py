"""Demos and the experiments behind them (``make demo*``): training runs, comparison tables, pictures."""

"""The onhand run: the stream played against onhand's real API, over HTTP and WebSocket, as
each client would (`run.py` first)."""

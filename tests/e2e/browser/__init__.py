"""Helpers for the browser tests: a headless Chromium, the page server in a thread, a fake
socket.io Rasa (our real input channel, an echo bot instead of a model) and a TCP proxy
that can drop connections."""

"""Website chat channel: the masking socket.io input channel Rasa loads, the embeddable
widget (static/widget.js + widget.css + the vendored socket.io client) and the support page
server `supportbot web` (port 8080). See docs/web-widget.md."""

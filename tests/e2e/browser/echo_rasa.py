"""A stand-in for the Rasa server: our real MaskingSocketIOInput channel, mounted on Sanic
exactly as Rasa mounts it, with a scripted bot instead of a trained model.

    .venv/bin/python tests/e2e/browser/echo_rasa.py --port 5999

Browsers may connect from SUPPORTBOT_CORS_ORIGINS only, as with Rasa. Every UserMessage the
channel builds is recorded; GET /received returns them, so a test can
check what "Rasa" would have stored. Commands the bot understands (anything else is echoed):
  /buttons  /image  /multiline  /link  /html  /custom  /slow
"""
from __future__ import annotations

import argparse
import asyncio

from rasa.server import configure_cors
from sanic import Sanic, response

from supportbot.channels.web.socketio_channel import MaskingSocketIOInput
from supportbot.settings import Settings

received: list[dict] = []
# a 120x60 blue PNG, inline so it needs no server and passes the page CSP (img-src data:)
PICTURE_PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAHgAAAA8CAIAAAAiz+n/AAAAaklEQVR42u3QQQ0AAAgEoGtiNKNazRbOBxsJSPVwIApE"
    "i0a0aNEWRItGtGjRFkSLRrRo0YgWjWjRohEtGtGiRSNaNKJFi0a0aESLFo1o0YgWLRrRohEtWjSiRSNatGhEi0a0aNGIFo3oXxbTU9Wf"
    "HiINjQAAAABJRU5ErkJggg=="
)


async def on_new_message(message) -> None:
    received.append(
        {"text": message.text, "sender_id": message.sender_id, "metadata": message.metadata,
         "input_channel": message.input_channel}
    )
    out, to, text = message.output_channel, message.sender_id, message.text
    if text.startswith("/buttons"):
        await out.send_text_with_buttons(
            to,
            "Why would you like a refund?",
            [
                {"title": "Duplicate order", "payload": '/inform{"refund_reason":"duplicate_order"}'},
                {"title": "No longer needed", "payload": '/inform{"refund_reason":"no_longer_needed"}'},
            ],
        )
    elif text.startswith("/image"):
        await out.send_text_message(to, "Here is a picture:")
        await out.send_image_url(to, PICTURE_PNG)
    elif text.startswith("/multiline"):
        await out.send_text_message(to, "First line\nSecond line\n\nA new bubble")
    elif text.startswith("/link"):
        await out.send_text_message(
            to, "See https://help.example/refunds?x=1&y=2. Or javascript:alert(1) (not a link)."
        )
    elif text.startswith("/html"):
        await out.send_text_message(to, '<img src=x onerror="window.__xss=1"><b>bold</b>')
    elif text.startswith("/custom"):
        await out.send_custom_json(to, {"text": "Custom line 1\nCustom line 2"})
    elif text.startswith("/slow"):
        await asyncio.sleep(2.5)
        await out.send_text_message(to, "Sorry for the wait.")
    else:
        await out.send_text_message(to, f"You said: {text}")


def build_app() -> Sanic:
    app = Sanic("echo_rasa")
    # as `supportbot run` starts Rasa: `--cors` with Settings.cors_origins (the channel reads them too)
    configure_cors(app, list(Settings.from_env().cors_origins))
    channel = MaskingSocketIOInput.from_credentials(
        {"user_message_evt": "user_uttered", "bot_message_evt": "bot_uttered",
         "session_persistence": True}
    )
    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/socketio")

    @app.get("/received")
    async def get_received(_request):
        return response.json(received)

    @app.get("/")
    async def root(_request):
        return response.text("echo rasa")

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    build_app().run(host="127.0.0.1", port=args.port, access_log=False, motd=False)

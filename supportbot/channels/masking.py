"""REST input channel that masks card numbers before the message reaches Rasa.

Rasa stores the text of a UserMessage in its tracker store; masking here, where the text
enters, keeps full card numbers out of the tracker, the NLU and every log.
"""
from __future__ import annotations

from rasa.core.channels.rest import RestInput
from sanic.request import Request

from supportbot.privacy import mask_card_numbers


class MaskingRestInput(RestInput):
    """`rest` channel (same URL, /webhooks/rest/webhook) with card-number masking."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def _extract_message(self, req: Request) -> str:
        text = super()._extract_message(req)
        return mask_card_numbers(text) if text else text

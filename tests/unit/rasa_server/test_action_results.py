"""The action server's answers are checked against Rasa's schema exactly as before, faster."""
from __future__ import annotations

import pytest
from jsonschema import ValidationError, validate
from rasa.core.actions.action import RemoteAction

from supportbot.rasa_server.action_results import install_fast_action_result_check

GOOD = [
    {"events": [{"event": "slot", "name": "email", "value": "a@example.com"}], "responses": []},
    {"events": [], "responses": [{"text": "hi", "buttons": [{"title": "Yes", "payload": "/affirm"}]}]},
    {},
]
BAD = [
    {"events": [{"name": "email"}]},  # an event without its type
    {"events": "not a list"},
    {"responses": [{"text": 5}]},
]


@pytest.mark.parametrize("answer", GOOD + BAD)
def test_the_same_answers_pass_and_fail_as_with_rasas_check(answer):
    spec = RemoteAction.action_response_format_spec()
    try:
        validate(answer, spec)
        expected = True
    except ValidationError:
        expected = False
    install_fast_action_result_check()
    action = RemoteAction("action_x", None)
    if expected:
        assert action._validate_action_result(answer) is True
    else:
        with pytest.raises(ValidationError, match="Failed to validate Action server response"):
            action._validate_action_result(answer)

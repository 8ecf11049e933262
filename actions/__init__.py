"""rasa-sdk action server: one module a topic, each action thin (slots -> core -> utter).

Served by `python -m supportbot.runtime.action_server` (rasa-sdk's app plus the shared secret
Rasa sends; `supportbot run` starts it); rasa-sdk imports every module of the package, so each
topic module registers its actions by defining them.
"""

"""rasa-sdk action server: one module a topic, each action thin (slots -> core -> utter).

Started with `rasa run actions --actions actions`; rasa-sdk imports every module of the
package, so each topic module registers its actions by defining them.
"""

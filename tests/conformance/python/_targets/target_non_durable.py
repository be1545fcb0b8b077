"""Invoke target: a plain (non-durable) Lambda-style function that returns a value."""


def handler(event, context):
    return {"nonDurable": True, "input": event}

"""Escalation: policies, the durable engine, incident lifecycle and the messages pages carry."""

"""Fulfilment of data-subject requests: durable execution through the engine, delivery of exports, the registers it feeds."""

"""Work that runs outside a request.

queue (the job table: enqueue, claim, retry, park, periodic jobs), worker (``portal worker``, and
one in a thread in development) and outbox (messages written in the transaction that caused them).
"""

"""Request workflows: the state machine every request type follows, and erasure plans.

Built by the requests issue; nothing lives here yet.
"""

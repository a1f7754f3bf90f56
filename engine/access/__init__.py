"""Access: who is calling (directory: departments, organisations, users, hashed tokens) and what they may see
and do (authz). It imports only storage, engine.errors and engine.clock.
"""

"""The closed loop: grab thread → frame ring → hot loop (engine → identity → rules → DAQ),
with side channels (publisher, recorder, status) that never block it."""

"""One router module per stage; each parses, authorizes and calls the stage."""

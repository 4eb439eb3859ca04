"""Server-rendered pages: one base layout, one page group per stage."""

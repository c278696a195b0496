"""Tables, engines, sessions and migrations. Imports no other project package."""

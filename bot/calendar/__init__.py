"""Calendar feeds: the team ICS feed and each member's personal feed."""

"""What the user sees: node output, the live status table, the plan and exit reports, the graph."""

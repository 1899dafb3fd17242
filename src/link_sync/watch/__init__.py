"""`link-sync watch`: stay running and keep every printer in line with the master."""

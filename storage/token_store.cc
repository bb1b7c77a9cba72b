// Token store: arrives with the OAuth issue.

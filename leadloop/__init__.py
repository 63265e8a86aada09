"""leadloop: a self-hosted lead generation system."""

"""The Streamlit dashboard's logic and glue: pages in app/ lay out what these modules compute."""

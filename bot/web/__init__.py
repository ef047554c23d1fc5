"""The web application: the agents' desk in a browser and the pages behind the links in mails."""

"""OneBot v11, as the reverse WebSocket server a QQ client (NapCat, LLOneBot) connects to
(`server`), its message events in both formats (`events`), and sending by actions (`transport`)."""

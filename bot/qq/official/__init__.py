"""The official QQ Bot API: the REST client and its access token (`client`), the signed webhook
and the gateway (`webhook`, `gateway`, `signing`), its events (`events`), passive replies within
the reply windows (`transport`)."""

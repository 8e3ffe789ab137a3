"""The GraphQL documents the simulated clients send."""

LATEST_SEQUENCE = "{ latestSequence }"
FEED = """query($channel: String!, $after: String) {
  channelFeed(channelCode: $channel, after: $after, first: 1000) {
    items { sku availableToSell } cursor hasMore } }"""
ACKNOWLEDGE = """mutation($input: AcknowledgeChannelSyncInput!) {
  acknowledgeChannelSync(input: $input) { errors { field code message } } }"""
AVAILABILITY = """subscription($channel: String!, $after: Long) {
  channelAvailabilityChanged(channelCode: $channel, after: $after) {
    sku availableToSell sequence } }"""
RESERVE_CART = """mutation($input: ReserveCartInput!) {
  reserveCart(input: $input) { success errors { field code message } } }"""
RESERVE = """mutation($input: CreateReservationInput!) {
  createReservation(input: $input) { errors { field code message } } }"""
CONVERT = """mutation($input: ConvertToOrderReservationInput!) {
  convertToOrderReservation(input: $input) { errors { field code message } } }"""
FULFIL = """mutation($input: FulfillReservationInput!) {
  fulfillReservation(input: $input) { errors { field code message } } }"""
RECORD_EVENTS = """mutation($input: RecordInventoryEventsInput!) {
  recordInventoryEvents(input: $input) {
    results { eventId status errors { field code message } } errors { field code message } } }"""
SOURCE_SYSTEMS = """{ sourceSystems(first: 100) {
  nodes { code lastAppliedSequence expectedSequence heldCount failedCount } } }"""
CHANNEL_INVENTORY = """query($channel: String!, $skus: [String!]) {
  channelInventory(channelCode: $channel, skus: $skus) { availableToSell product { sku } } }"""
CREATE_WEBHOOK = """mutation($input: CreateWebhookInput!) {
  createWebhook(input: $input) { webhook { id } errors { field code message } } }"""
DELIVERIES = """query($status: WebhookDeliveryStatus, $after: String) {
  webhookDeliveries(status: $status, first: 250, after: $after) {
    totalCount nodes { id } pageInfo { hasNextPage endCursor } } }"""
RETRY_DELIVERY = """mutation($input: RetryWebhookDeliveryInput!) {
  retryWebhookDelivery(input: $input) { errors { field code message } } }"""

"""Click-and-collect: where a cart can be picked up, and how much of each line at each pickup
location. Open `availability.py` first; reservations made for pickup are in
inventory/reservations/pickup.py."""

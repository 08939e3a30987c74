"""The pages: one module per capability, each a blueprint named ``bp``. They parse the request, call the
domain modules and render; they never commit or roll back (the request pipeline in views.py and web.py
does), and no module outside this folder imports them. views.py registers them."""

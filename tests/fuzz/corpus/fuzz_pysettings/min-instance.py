import os
SECRET_KEY = 'k3y-very-secret-value'
MODOBOA_APPS = ('modoboa', 'modoboa.core', 'modoboa_contacts', 'modoboa_webmail',)
DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': 'modoboa',
        'USER': 'modoboa',
        'PASSWORD': 'pg-pass-w0rd',
        'HOST': '/nonexistent-pg-socket-dir',
        'PORT': '5432',
    },
    'amavis': {
        'ENGINE': 'django.db.backends.mysql',
        'NAME': 'amavis',
        'USER': 'amavis',
        'PASSWORD': 'my-pass-w0rd',
        'HOST': '/nonexistent-mysqld.sock',
        'PORT': '',
    },
}
